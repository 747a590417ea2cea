"""The one shape of a refusal the user reads: an English text (CLI, logs) translated on the page, and the
HTTP status that goes with it. Each feature names its own subclass (AccountError, SignError, …)."""
from flask_babel import gettext


class UserError(ValueError):
    status = 422

    def __init__(self, text: str, status: int | None = None, **params):
        super().__init__(text % params if params else text)
        self.text, self.params = text, params
        if status is not None:
            self.status = status

    def message(self) -> str:
        return gettext(self.text, **self.params)
