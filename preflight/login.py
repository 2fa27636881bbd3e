"""The login page, with failed attempts throttled per client address.

Failed logins are counted in the shared cache for the "login" rate of the API's throttles
(``PREFLIGHT_API_LOGIN_RATE``), so a password cannot be guessed faster through the page than a
token through the API. Past the rate, the page refuses every attempt from that address, right
or wrong, until the window ends: answering a right password would tell the guesser it is right."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

from api.throttling import LoginRateThrottle
from audit import context


def _limit() -> tuple[int, int] | None:
    """(failures allowed, window in seconds), or None when the rate is switched off: the API's
    login throttle reads and parses the rate, so the page and the API cannot disagree on it."""
    throttle = LoginRateThrottle()
    if throttle.rate is None:
        return None
    return throttle.num_requests, throttle.duration


def _key() -> str:
    return f"login-failures:{context.client_ip.get() or 'unknown'}"


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        limit = _limit()
        if limit is not None and cache.get(_key(), 0) >= limit[0]:
            # The form is not even checked: no password is tried while the address is blocked.
            minutes = max(1, limit[1] // 60)
            response = self.render_to_response(
                self.get_context_data(
                    form=self.get_form_class()(request),
                    throttled=f"Too many failed logins from your address. "
                    f"Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
                )
            )
            response.status_code = 429
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        limit = _limit()
        if limit is not None:
            key = _key()
            cache.add(key, 0, timeout=limit[1])
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=limit[1])
        return super().form_invalid(form)
