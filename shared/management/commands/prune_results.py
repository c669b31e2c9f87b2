"""`python -m django prune_results`: delete shared results past their expiry (RESULT_TTL_DAYS).

Every new share already deletes them, so this matters only for a site where nobody shares for
a while; run it daily beside `clearsessions` (docs/operations.md)."""

from django.core.management.base import BaseCommand

from shared.results import prune_expired


class Command(BaseCommand):
    help = "Delete shared results past their expiry."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"deleted {prune_expired()} expired shared results")
