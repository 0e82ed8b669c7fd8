"""segctl plugin: built-in synthetic shapes dataset (the embedded default)."""
