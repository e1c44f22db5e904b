"""Printers: IR and derivations -> text, LaTeX, Markdown, JSON."""
