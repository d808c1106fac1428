import uuid

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models

from config.clock import ClockDateTimeField


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields):
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A person who logs in: business owner, loan officer or risk operator (roles are groups)."""

    username = None
    email = models.EmailField("email address", unique=True)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self) -> str:
        return self.email


class PartnerBank(models.Model):
    """A tenant: a bank, marketplace or the platform's own channel. Its data is seen by no other."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    currency = models.CharField(max_length=3, default="CNY", help_text="ISO 4217; one per partner.")
    created_at = ClockDateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "partner bank"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(currency__regex=r"^[A-Z]{3}$"), name="partner_currency_iso4217"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


class Business(models.Model):
    """A merchant. Owned by exactly one partner; an imported merchant has no owner login yet."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey(PartnerBank, on_delete=models.PROTECT, related_name="businesses")
    external_id = models.CharField(
        "partner's merchant id", max_length=64, help_text="The partner's own merchant id (unique per partner)."
    )
    legal_name = models.CharField(max_length=200)
    registration_number = models.CharField(max_length=64, blank=True, default="")
    sector = models.CharField(max_length=64, blank=True, default="")
    region = models.CharField(max_length=64, blank=True, default="")
    established_on = models.DateField(null=True, blank=True)
    onboarded_on = models.DateField()
    owner = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="businesses"
    )
    is_blocked = models.BooleanField(
        default=False, help_text="On the partner's or platform's blocked list (a knock-out rule)."
    )
    created_at = ClockDateTimeField(auto_now_add=True)
    updated_at = ClockDateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "businesses"
        ordering = ["partner_id", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "external_id"], name="business_unique_external_id")
        ]

    def __str__(self) -> str:
        return f"{self.legal_name} [{self.external_id}]"


class ApiScope(models.TextChoices):
    READ = "read", "read (GET)"
    WRITE = "write", "write (merchants, transactions, applications, offers)"
    ADMIN = "admin", "admin (webhook endpoints, key management)"


class ApiKey(models.Model):
    """A partner's secret for the REST API. Only a SHA-256 digest is stored; the key is shown once.

    The key reads `p310_<prefix>_<secret>`; the prefix is public (it names the key in logs, the admin and
    throttling) and finds the row, the digest proves the secret. Keys carry 256 random bits, so a fast
    hash is enough: there is nothing to brute-force that a slow hash would protect.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey(PartnerBank, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="What the key is for, e.g. 'production loan origination'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, help_text="Any of read, write, admin; write and admin imply read.")
    created_at = ClockDateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["partner_id", "-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def effective_scopes(self) -> frozenset[str]:
        granted = set(self.scopes or [])
        if granted & {ApiScope.WRITE, ApiScope.ADMIN}:
            granted.add(ApiScope.READ)
        return frozenset(granted)

    def is_active_at(self, now) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)
