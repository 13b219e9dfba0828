"""Reactors: answer events by recording new ones, deciding through the domain like any command."""
