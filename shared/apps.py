from django.apps import AppConfig


class SharedConfig(AppConfig):
    name = "shared"

    def ready(self) -> None:
        from shared.sessions import connect_receivers

        connect_receivers()
