"""A visitor over plain HTTP, as a browser without JavaScript: cookies, CSRF tokens, forms."""

import itertools
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.cookiejar import CookieJar

PASSWORD = "correct-horse-battery-staple"
_numbers = itertools.count(1)
_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass
class Page:
    status: int
    url: str  # after redirects
    body: str


class Visitor:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.username: str | None = None  # once signed up or in
        self.cookies = CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str) -> Page:
        return self._open(urllib.request.Request(self.base_url + path))

    def submit(self, path: str, fields: dict[str, str], csrf: bool = True) -> Page:
        """POST a form the way a browser does: with the token from the page that holds it."""
        if csrf:
            fields = {**fields, "csrfmiddlewaretoken": self._csrf_token(path)}
        data = urllib.parse.urlencode(fields).encode()
        return self._open(urllib.request.Request(self.base_url + path, data=data, method="POST"))

    def sign_up(self, username: str, password: str = PASSWORD) -> Page:
        self.username = username
        fields = {"username": username, "password1": password, "password2": password}
        return self.submit("/accounts/signup/", fields)

    def sign_in(self, username: str, password: str = PASSWORD) -> Page:
        self.username = username
        return self.submit("/accounts/login/", {"username": username, "password": password})

    def sign_out(self) -> Page:
        """Press "Sign out": the form in every page's header, posted to /accounts/logout/."""
        fields = {"csrfmiddlewaretoken": self._csrf_token("/")}
        data = urllib.parse.urlencode(fields).encode()
        return self._open(urllib.request.Request(self.base_url + "/accounts/logout/", data=data, method="POST"))

    def cookie(self, name: str) -> str | None:
        return next((cookie.value for cookie in self.cookies if cookie.name == name), None)

    @property
    def socket_headers(self) -> dict[str, str]:
        """What a browser sends with this visitor's sockets: the session cookie."""
        return {"Cookie": f"sessionid={self.cookie('sessionid')}"}

    def _csrf_token(self, path: str) -> str:
        match = _CSRF_FIELD.search(self.get(path).body)
        assert match, f"no CSRF token in the form at {path}"
        return match[1]

    def _open(self, request: urllib.request.Request) -> Page:
        try:
            with self._opener.open(request, timeout=15) as response:
                return Page(response.status, response.url, response.read().decode())
        except urllib.error.HTTPError as error:
            return Page(error.code, error.url, error.read().decode())


def new_user(stack, prefix: str) -> Visitor:
    """A visitor of `stack` who has just signed up (and so is signed in), under a name no other
    test or test process uses: <prefix>-<n>-<pid>."""
    visitor = Visitor(stack.url)
    page = visitor.sign_up(f"{prefix}-{next(_numbers)}-{os.getpid()}")
    assert page.status == 200, page.body[:2000]
    return visitor
