"""The AWS shared config file: byte-preserving profile edits and safe file I/O."""
