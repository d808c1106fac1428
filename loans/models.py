"""The app's models, defined in the packages that own them (docs/adr/0008-restructure.md); Django loads an
app's models from this module, so each package's models are imported here."""

from loans.applications.models import (  # noqa: F401
    Application,
    ApplicationStatus,
    ApplicationTransition,
    Channel,
    Loan,
    LoanInstalment,
    LoanStatus,
    Purpose,
)
from loans.idempotency.models import (  # noqa: F401
    IdempotencyRecord,
    IdempotencyStatus,
)
from loans.reviews.models import (  # noqa: F401
    Review,
    ReviewVerdict,
)
from loans.webhooks.models import (  # noqa: F401
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
    new_event_id,
    new_webhook_secret,
)
