"""Hub plugin for Spotify: linked accounts and their Spotify Connect devices."""
