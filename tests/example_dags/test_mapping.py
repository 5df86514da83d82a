"""Catalogue operators work with dynamic task mapping (``.partial().expand()`` / ``expand_kwargs``),
run by ``dag.test()`` against the emulator: a row whose selector is mapped, a selector fixed in
``partial``, a plain row, a Get All row writing files and ``Bitrix24Operator`` by action id (mapping_dags/bitrix24_mapping.py).

``dag.test()`` only runs DAGs found in a configured bundle, so this test adds mapping_dags/ as a
second local bundle next to the examples' dags-folder."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

MAPPING_DAGS = Path(__file__).resolve().parent / "mapping_dags"


def test_catalogue_operators_map_with_their_arguments(
    dagbag, metadata_db, emu, webhook_conn, tmp_path, monkeypatch
):
    from airflow.dag_processing.dagbag import DagBag

    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    monkeypatch.setenv(
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST",
        json.dumps(
            [
                {"name": "dags-folder", "classpath": local, "kwargs": {}},
                {"name": "bitrix24-mapping-tests", "classpath": local, "kwargs": {"path": str(MAPPING_DAGS)}},
            ]
        ),
    )
    deals = emu.seed(
        "crm.deal", [{"TITLE": f"d{i}"} for i in range(6)]
    )  # the second Get All page is cut by limit=3
    long_ago = (datetime.now(timezone.utc) - timedelta(hours=30)).isoformat()
    emu.seed(
        "imopenlines.session",
        [
            {"CHAT_ID": 21, "USER_CODE": "a", "DATE_CREATE": long_ago},
            {"CHAT_ID": 22, "USER_CODE": "b", "DATE_CREATE": long_ago},
        ],
    )
    bag = DagBag(dag_folder=str(MAPPING_DAGS))
    assert bag.import_errors == {}

    run = bag.dags["test_bitrix24_mapping"].test(
        run_conf={"deals": deals[:2], "chats": [21, 22], "out": str(tmp_path)}
    )

    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert len(states) == 9 and set(states.values()) == {"success"}, states
    assert sorted(c.method for c in emu.calls() if c.method.endswith("userfield.list")) == [
        "crm.company.userfield.list",
        "crm.deal.userfield.list",
        "crm.lead.userfield.list",
    ]
    assert sorted(int(c.params["CHAT_ID"]) for c in emu.calls("imopenlines.operator.another.finish")) == [
        21,
        22,
    ]
    assert sorted(int(c.params["id"]) for c in emu.calls("crm.deal.get")) == deals[:2]
    assert [json.loads(line)["TITLE"] for line in (tmp_path / "first.jsonl").read_text().splitlines()] == [
        "d0",
        "d1",
    ]
    assert [json.loads(line)["TITLE"] for line in (tmp_path / "rest.jsonl").read_text().splitlines()] == [
        "d2",
        "d3",
        "d4",
    ]
