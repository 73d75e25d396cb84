"""Sonos speakers for Hub, through SoCo."""
