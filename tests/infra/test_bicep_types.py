"""Every resource body in infra/ type-checks against the Bicep compiler's own type data (vendored in
tests/infra/bicep-types/), offline: no unknown property, no read-only property set, no required property
missing, no literal outside its enum, and every type@apiVersion present in the data. The mutation cases
prove the check fails on each kind of mistake."""
from __future__ import annotations

import pytest

from tests.infra.bicep_model import ROOT, infra, mutated
from tests.infra.bicep_types import OWN, VENDORED, all_instances, problems, resource_type, types_root


def test_every_resource_body_matches_its_bicep_type():
    found = problems(infra())
    assert not found, "\n".join(found)


def test_every_resource_type_and_api_version_is_in_the_type_data():
    """Also `existing` references: their API version must exist too."""
    checked = set()
    for instance in all_instances(infra()):
        for symbol, resource in instance.template.resources.items():
            name = f"{resource['type']}@{resource['api_version']}"
            assert resource_type(name) is not None, f"{instance.template.path}:{symbol}: {name} not in {types_root()}"
            checked.add(name)
    assert len(checked) >= 14, sorted(checked)


def test_the_type_data_is_inside_the_repository_and_holds_only_what_infra_uses():
    """A clone anywhere has the data (nothing is looked for outside the repository), and no file is dead weight."""
    assert VENDORED.is_relative_to(ROOT) and (VENDORED / "LICENSE").exists()
    used = {resource_type(f"{r['type']}@{r['api_version']}")[0].path.resolve()
            for instance in all_instances(infra()) for r in instance.template.resources.values()}
    assert used == {p.resolve() for p in [*VENDORED.glob("*/*/*/types.json"), *OWN.glob("*/*/*/types.json")]}
    vendored = {p.parent.relative_to(VENDORED) for p in VENDORED.glob("*/*/*/types.json")}
    assert not vendored & {p.parent.relative_to(OWN) for p in OWN.glob("*/*/*/types.json")}  # never both


MUTATIONS = [
    # unknown property
    ("unknown", "modules/functionapp.bicep", "    httpsOnly: true\n", "    httpsOnly: true\n    httpsOnlyy: true\n"),
    ("unknown", "modules/functionapp.bicep", "      runtimeVersion: '~1'\n", "      runtimeVersion: '~1'\n      enabledd: true\n"),
    ("unknown", "modules/storage.bicep", "    allowSharedKeyAccess: false\n", "    allowsharedkeyaccess: false\n"),
    ("unknown", "modules/functionapp.bicep", "        value: setting.value\n", "        value: setting.value\n        slot: true\n"),
    ("unknown", "modules/functionapp.bicep", "    allow: false\n  }\n}\n\nresource scmPublishing",
     "    allow: false\n    allowed: true\n  }\n}\n\nresource scmPublishing"),
    ("unknown", "modules/workbook.bicep", "    category: 'workbook'\n", "    category: 'workbook'\n    charts: 'all'\n"),
    # read-only property set
    ("read-only", "modules/functionapp.bicep", "    httpsOnly: true\n", "    httpsOnly: true\n    defaultHostName: 'x'\n"),
    ("read-only", "modules/keyvault.bicep", "    enableRbacAuthorization: true\n",
     "    enableRbacAuthorization: true\n    hsmPoolResourceId: 'x'\n"),
    # required property missing
    ("required", "modules/roles.bicep",
     "    principalId: principalId\n    principalType: 'ServicePrincipal'\n  }\n}\n\n// sms-outbox",
     "    principalType: 'ServicePrincipal'\n  }\n}\n\n// sms-outbox"),
    ("required", "modules/keyvault.bicep", "    tenantId: tenant().tenantId\n", ""),
    ("required", "modules/workbook.bicep", "    serializedData: string(workbookContent)\n", ""),
    # literal outside its enum, or of the wrong kind
    ("enum", "modules/keyvault.bicep", "      name: 'standard'", "      name: 'gold'"),
    ("enum", "modules/workbook.bicep", "  kind: 'shared'", "  kind: 'user'"),
    ("enum", "modules/functionapp.bicep", "ftpsState: 'Disabled'", "ftpsState: 'Disable'"),
    ("enum", "modules/functionapp.bicep", "name: 'scm'", "name: 'sftp'"),
    ("enum", "modules/alerts.bicep", "          timeAggregation: 'Count'\n        }\n      ]\n    }\n    autoMitigate: true\n    actions: [",
     "          timeAggregation: 'Sum'\n        }\n      ]\n    }\n    autoMitigate: true\n    actions: ["),
    ("enum", "modules/functionapp.bicep", "  } : {\n    platform: {\n      enabled: false",
     "  } : {\n    platform: {\n      enabled: 'no'"),
    ("kind", "modules/functionapp.bicep", "    httpsOnly: true\n", "    httpsOnly: 'yes'\n"),
    ("kind", "modules/monitoring.bicep", "    retentionInDays: retentionInDays\n", "    retentionInDays: 'thirty'\n"),
    # a parameter whose declared type or @allowed list does not fit the property
    ("param", "main.bicep", "  'Group'\n])\n@description('What principalId is", "  'Robot'\n])\n@description('What principalId is"),
    ("param", "modules/functionapp.bicep", "    httpsOnly: true\n", "    httpsOnly: instanceMemoryMB\n"),
    # a type or API version the data does not hold
    ("missing", "modules/storage.bicep", "resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' = {",
     "resource storageAccount 'Microsoft.Storage/storageAccounts@2099-01-01' = {"),
    ("missing", "modules/alerts.bicep", "resource appInsights 'Microsoft.Insights/components@2020-02-02' existing",
     "resource appInsights 'Microsoft.Insights/components@2015-05-01' existing"),
]


@pytest.mark.parametrize(("kind", "path", "old", "new"), MUTATIONS,
                         ids=[f"{m[0]}-{m[1].split('/')[-1]}-{i}" for i, m in enumerate(MUTATIONS)])
def test_the_type_check_fails_on_a_broken_body(kind, path, old, new):
    found = problems(mutated(path, old, new))
    assert found, f"{kind}: the type check accepted {new!r}"
    words = {"unknown": ("unknown property", "wrong case"), "read-only": ("read-only",),
             "required": ("required property missing",), "enum": ("none of", "is not"),
             "kind": ("is not a", "is not an"), "param": ("parameter",), "missing": ("is not in",)}[kind]
    assert any(word in problem for problem in found for word in words), found
