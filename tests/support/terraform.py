"""Reading rendered Terraform back the way Terraform would, through python-hcl2."""

from __future__ import annotations

from typing import Any

import hcl2
from hcl2.utils import SerializationOptions, process_escape_sequences


def hcl_unquote(value: Any) -> Any:
    """Decode python-hcl2's source-form values ('"text"') into the values Terraform sees."""
    if isinstance(value, dict):
        return {hcl_unquote(k): hcl_unquote(v) for k, v in value.items()}
    if isinstance(value, list):
        return [hcl_unquote(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        body = value[1:-1]
        # An unescaped ${ or %{ would be a template, not a literal: the policy would change.
        assert "${" not in body.replace("$${", ""), body
        assert "%{" not in body.replace("%%{", ""), body
        return process_escape_sequences(body).replace("$${", "${").replace("%%{", "%{")
    return value


def parse_terraform(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(role attributes, policy) from the rendered Terraform, as python-hcl2 reads them."""
    data = hcl2.loads(text)
    roles = [r for r in data["resource"] if list(r) == ['"aws_iam_role"']]
    (resource,) = roles  # other resources (an OIDC provider) may come with it
    (labels,) = resource.values()
    (role,) = labels.values()
    expr = role["assume_role_policy"]
    prefix, suffix = "${jsonencode(", ")}"
    assert expr.startswith(prefix)
    assert expr.endswith(suffix)
    # python-hcl2 keeps call arguments as HCL text; parse the object literal on its own.
    options = SerializationOptions(with_comments=False, explicit_blocks=False)
    obj = hcl2.loads(f"x = {expr[len(prefix) : -len(suffix)]}\n", serialization_options=options)
    return role, hcl_unquote(obj["x"])
