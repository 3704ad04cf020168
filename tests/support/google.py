"""Token-source test data: the impersonation target, a gcloud user, credentials files on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TARGET = "aws-access@demo-project.iam.gserviceaccount.com"
USER = "alice@example.com"


def write_json(path: Path, doc: Any) -> str:
    path.write_text(json.dumps(doc))
    return str(path)
