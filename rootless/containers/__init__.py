"""Container records and orchestration: turns `run` options plus an image
(or a --rootfs directory) into a runtime spec, keeps the record, runs it."""
