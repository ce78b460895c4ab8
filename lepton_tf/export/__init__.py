"""Exports: SavedModel for servers, TFLite for phones and edge boards."""
