"""Exits: contracts ended before their term, the replacement creator and the post-exit analysis."""
