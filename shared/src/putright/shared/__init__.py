"""Putright shared: the event contract and delivery guarantees every service uses."""
