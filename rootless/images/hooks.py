"""What a face installs for the image engine to call back: nothing in
rootless/images talks to a terminal."""

# the short-name prompt (regconf.plan_short_name): a callable returning
# choose(candidates) -> index, or None when it cannot ask (no terminal);
# the CLI installs its terminal menu (cli/prompt.py)
short_name_prompt = None
