"""Attack tests: what a hostile pull request tries, and that it gets nowhere."""
