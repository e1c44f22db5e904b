"""Printers: IR and derivations -> text, LaTeX, Markdown, JSON."""


class Rendered:
    """Text for print(), LaTeX and Markdown for Jupyter, all from one `render(format)` method."""

    def render(self, format: str = "text") -> str:  # pragma: no cover - every subclass defines it
        raise TypeError(f"{type(self).__name__} must define render(format)")

    def __str__(self) -> str:
        return self.render("text")

    def _repr_latex_(self) -> str:
        return self.render("latex")

    def _repr_markdown_(self) -> str:
        return self.render("markdown")
