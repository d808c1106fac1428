from django.apps import AppConfig


class UnderwritingConfig(AppConfig):
    name = "underwriting"
    verbose_name = "Underwriting"

    def ready(self) -> None:
        from underwriting import checks  # noqa: F401 - registers the deploy checks
