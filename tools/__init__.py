"""Command-line tools. A package only so that tests (and tools run as scripts, which put the
repository root on ``sys.path``) can import helper packages such as ``tools.demo_data``; the
library (``pointcept``) never imports from here."""
