import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class IntentKind(enum.StrEnum):
    #: CreateDevice: a ``petit-<device id>`` device; done when the ``devices`` row exists.
    CREATE = "create"
    #: Pairing start: a ``petit-pairing-<pairing id>`` device; done when the ``pairings`` row exists.
    RESERVE = "reserve"
    #: MAC self-provisioning: a device named by its MAC; done when the ``provisioned_devices`` row exists.
    PROVISION = "provision"
    #: Claim: a tenant device assigned to the claimer's customer; done when its ``devices`` row exists.
    CLAIM = "claim"
    #: Ownership transfer: the device reassigned to the recipient's customer (``row_id``, the petit device);
    #: done when the row names the recipient, undone by assigning it back to whoever the row names.
    TRANSFER = "transfer"


class DeviceIntent(SQLModel, table=True):
    """What petit is about to do to ThingsBoard, committed before ThingsBoard is touched.

    The change that completes the step deletes its intent in the same transaction. An intent that outlives
    its request (a crash, a lost connection, a failure whose own undo failed) is undone by the sweeper: the
    device petit may have created or assigned is deleted or unassigned, so nothing is left half-made.
    """

    __tablename__ = "device_intents"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, sa_type=sa.Uuid, primary_key=True)
    kind: str = Field(sa_type=sa.String(16), nullable=False)
    #: The ThingsBoard device name the step creates (or, for a claim, the name claimed).
    platform_name: str = Field(sa_type=sa.String(128), nullable=False, index=True)
    #: Known up front for a claim; for creations it is found again by name.
    platform_device_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid, nullable=True)
    #: The petit row whose existence means the step completed (device, pairing id); None for a MAC. For a
    #: claim, the claimer's ThingsBoard customer: only an assignment to it is ever undone.
    row_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid, nullable=True)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True), nullable=False, index=True)
    #: Sweeps that could not undo it yet (ThingsBoard away); for operators' eyes.
    attempts: int = Field(default=0, nullable=False)
