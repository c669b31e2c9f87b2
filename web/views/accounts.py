"""Sign up, sign in, sign out: Django's auth with its forms (CSRF-protected), sessions in the
database. The session cookie is also what the Daphne workers read to know who a socket is."""

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

# Signed-in visitors who open the sign-in page go on to where they were headed.
sign_in = LoginView.as_view(redirect_authenticated_user=True)
# POST only (Django 5): a link or an image on another site cannot sign anybody out.
sign_out = LogoutView.as_view()


@never_cache
@sensitive_post_parameters("password1", "password2")
def sign_up(request: HttpRequest) -> HttpResponse:
    """Create an account and sign its owner in at once."""
    destination = _safe_next(request)
    if request.user.is_authenticated:
        return redirect(destination)
    form = UserCreationForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        login(request, form.save())
        return redirect(destination)
    return render(request, "web/signup.html", {"form": form, "next": destination})


def _safe_next(request: HttpRequest) -> str:
    """`next` when it points into this site, else LOGIN_REDIRECT_URL (no open redirects)."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(wanted, {request.get_host()}, request.is_secure())
    return wanted if allowed else settings.LOGIN_REDIRECT_URL
