"""hub-demo: virtual media players for Hub."""
