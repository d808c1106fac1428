"""The app's models, defined in the packages that own them (docs/adr/0008-restructure.md); Django loads an
app's models from this module, so each package's models are imported here."""


from underwriting.history.models import (  # noqa: F401
    CounterpartyDailyRollup,
    DailyBalance,
    DailyRollup,
    Direction,
    HistorySource,
    ImportRun,
    ImportStatus,
    LoanRecord,
    LoanRecordSource,
    LoanRecordStatus,
    MerchantMetric,
    Transaction,
    TransactionKind,
)
from underwriting.modeling.models import (  # noqa: F401
    ModelActivation,
    ModelVersion,
)
from underwriting.monitoring.models import (  # noqa: F401
    DecisionDailyDrift,
    DecisionDailySummary,
    DecisionSummaryWatermark,
)
from underwriting.policies.models import (  # noqa: F401
    PolicyVersion,
)
from underwriting.simulator.models import (  # noqa: F401
    SimulationTruth,
)
