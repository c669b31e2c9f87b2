"""Sign up, sign in, sign out: Django's auth with its forms (CSRF-protected), sessions in the
database. The session cookie is also what the Daphne workers read to know who a socket is."""

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import LoginView, LogoutView
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from shared.identity import GUEST_PREFIX, is_account_name, is_reserved_for_guests
from shared.protocol import NAME_MAX_CHARS, ProtocolError, clean_name

TAKEN = "A user with that username already exists."

# Signed-in visitors who open the sign-in page go on to where they were headed.
sign_in = LoginView.as_view(redirect_authenticated_user=True)
# POST only (Django 5): a link or an image on another site cannot sign anybody out.
sign_out = LogoutView.as_view()


class SignUpForm(UserCreationForm):
    """Django's sign-up form, whose username must also be a name as every name is
    (shared.protocol.clean_name: visible, no controls or bidi controls, 1-32 characters), must
    not read as any existing account's (Django checks case only; this compares keys:
    shared.protocol.name_key) and must not look like a generated guest name."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        username = self.fields["username"]
        username.help_text = f"Required. 1 to {NAME_MAX_CHARS} characters: letters, digits and @/./+/-/_ only."
        # `maxlength` counts UTF-16 units and cuts silently; the length is checked here, with a message.
        username.widget.attrs.pop("maxlength", None)

    def clean_username(self) -> str:
        username = super().clean_username()
        try:
            username = clean_name(username, field="username")
        except ProtocolError as error:
            raise ValidationError(error.detail, code="invalid") from None
        if is_reserved_for_guests(username):
            raise ValidationError(f"Names starting with “{GUEST_PREFIX}” are for visitors without an account.")
        if is_account_name(username):
            raise ValidationError(TAKEN, code="unique")
        return username


@never_cache
@sensitive_post_parameters("password1", "password2")
def sign_up(request: HttpRequest) -> HttpResponse:
    """Create an account and sign its owner in at once."""
    destination = _safe_next(request)
    if request.user.is_authenticated:
        return redirect(destination)
    form = SignUpForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            with transaction.atomic():
                user = form.save()
        except IntegrityError:  # the same name (by key) signed up meanwhile
            form.add_error("username", TAKEN)
        else:
            login(request, user)
            return redirect(destination)
    return render(request, "web/signup.html", {"form": form, "next": destination})


def _safe_next(request: HttpRequest) -> str:
    """`next` when it points into this site, else LOGIN_REDIRECT_URL (no open redirects)."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(wanted, {request.get_host()}, request.is_secure())
    return wanted if allowed else settings.LOGIN_REDIRECT_URL
