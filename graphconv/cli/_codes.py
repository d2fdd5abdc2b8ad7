"""The exit codes (the package docstring says what each means)."""

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_PASSES, EXIT_NONFINITE = 4, 5
