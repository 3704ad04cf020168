"""The command line: one module per subcommand that parses flags, calls the library and renders."""
