"""The one shape of a refusal the user reads: an English text (CLI, logs) translated on the page, and the
HTTP status that goes with it. Each feature names its own subclass (AccountError, SignError, …)."""
from flask import current_app
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


def N_(text: str) -> str:
    """Marks a msgid for `make messages` (-k N_) where the text is translated later, by UserError.message()."""
    return text


TOO_LONG = N_("A note can have at most %(max)s characters; this one has %(n)s. Shorten it and try again.")


def check_length(error: type[UserError], *texts: str) -> None:
    """Refuse free text longer than NOTE_MAX_CHARS with the feature's own error (nothing is saved then).

    A handover note is carried to every later handover, so one pasted log file would weigh on every page after
    it. Line breaks count once, as the browser's maxlength counts them.
    """
    limit = current_app.config["NOTE_MAX_CHARS"]
    longest = max((len(t.replace("\r\n", "\n")) for t in texts if t), default=0)
    if longest > limit:
        raise error(TOO_LONG, max=limit, n=longest)
