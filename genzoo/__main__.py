"""``python -m genzoo`` = the ``genzoo`` command."""

from genzoo.cli import console_main

console_main()
