"""The back office's import and export of master data tables (docs/master-data.md): CSV
and XLSX through django-import-export's pages, written by the master-data service all
or nothing, a preview that writes nothing, refusals named by row and column, exports
that import back unchanged."""

import csv
import io
import tempfile
import time

import openpyxl
import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.urls import reverse

from execution.models import DataSpec, Operation, RouteStep, RouteVersion, Run, Station, Unit
from tests.admin_tables import (
    TABLE_ADMINS,
    confirm,
    import_example_tables,
    import_table,
    preview,
    refusals,
)
from tests.factories import TrackFactory, person_in_role
from tests.master_data_bundle import CSV_FOLDER, JSON_BUNDLE

pytestmark = pytest.mark.django_db


@pytest.fixture
def integration(client):
    client.force_login(person_in_role("integration admin"))
    return client


def example(table: str) -> bytes:
    return (CSV_FOLDER / f"{table}.csv").read_bytes()


def edited(table: str, change) -> bytes:
    """The example table with its rows (dicts) passed through `change`."""
    reader = csv.DictReader(io.StringIO(example(table).decode()))
    columns, rows = reader.fieldnames, change(list(reader))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def as_xlsx(table: str) -> bytes:
    """The example table as a workbook, numbers and booleans typed as a spreadsheet
    types them."""
    book = openpyxl.Workbook()
    sheet = book.active
    for number, row in enumerate(csv.reader(io.StringIO(example(table).decode()))):
        cells = []
        for cell in row:
            if number and cell.isdigit():
                cell = int(cell)
            elif number and cell in ("true", "false"):
                cell = cell == "true"
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def messages_of(answer) -> list[str]:
    return [str(message) for message in get_messages(answer.wsgi_request)]


def test_the_example_tables_imported_in_order_set_up_the_line(integration):
    import_example_tables(integration)

    assert Station.objects.count() == 5
    assert Operation.objects.count() == 5
    assert DataSpec.objects.count() == 12
    assert RouteStep.objects.filter(route_version__code="ROUTE-SMT-EX").count() == 5
    assert Run.objects.get(run_no="RUN-EX-001").status == Run.Status.AUTHORIZED
    assert Unit.objects.filter(run__run_no="RUN-EX-001").count() == 200


def test_the_preview_shows_each_row_as_new_and_writes_nothing(integration):
    answer = preview(integration, "station", example("stations"), "stations.csv")

    result = answer.context["result"]
    assert [row.import_type for row in result.rows] == ["new"] * 5
    assert result.rows[0].diff[:3] == ["EX-PRINTER-01", "Stencil printer", "AUTO"]
    assert b"Confirm import" in answer.content
    assert not Station.objects.exists()


def test_the_confirmation_writes_and_says_how_many_rows(integration):
    answer = import_table(integration, "station", example("stations"), "stations.csv")

    assert answer.status_code == 302
    assert "Import finished: 5 new" in messages_of(answer)[0]
    assert Station.objects.count() == 5
    entry = LogEntry.objects.get()
    assert entry.object_repr == "import of stations.csv"
    assert entry.change_message == "Imported 5 rows: 5 new, 0 updated, 0 unchanged."
    assert entry.user.username == "integration-admin"


def test_the_same_table_again_is_previewed_as_skipped_and_changes_nothing(integration):
    import_example_tables(integration)
    before = list(Unit.objects.order_by("sn").values_list("pk", "sn", "run_id"))

    for table, model in TABLE_ADMINS:
        answer = preview(integration, model, example(table), f"{table}.csv")
        kinds = {row.import_type for row in answer.context["result"].rows}
        assert kinds == {"skip"}, (table, kinds)

    assert list(Unit.objects.order_by("sn").values_list("pk", "sn", "run_id")) == before


def test_one_bad_row_is_named_by_row_and_column_and_nothing_is_written(integration):
    import_example_tables(integration)

    def bad_limit(rows):
        rows[0]["name"] = "Stencil Wipe Count"  # a new spec on row 2: would be written
        rows[5]["spec"] = '{"min": 200, "max": 100}'  # row 7: min above max
        return rows

    answer = preview(integration, "dataspec", edited("specs", bad_limit), "specs.csv")

    found = refusals(answer)
    assert len(found) == 1
    assert found[0].startswith("row 7, spec")
    assert answer.context.get("confirm_form") is None
    assert not DataSpec.objects.filter(name="Stencil Wipe Count").exists()


def test_a_row_naming_an_operation_nobody_has_is_refused_by_row(integration):
    answer = preview(integration, "dataspec", example("specs"), "specs.csv")

    assert refusals(answer)[0].startswith(
        "row 2, operationCode: no operation EX-OP-PRINT yet: a new operation needs its name."
    )
    assert not DataSpec.objects.exists()


def test_a_table_without_a_needed_column_is_refused_before_any_row(integration):
    content = b"code,name\nEX-PRINTER-01,Stencil printer\n"

    answer = preview(integration, "station", content, "stations.csv")

    assert "missing column(s) stationType" in refusals(answer)[0]
    assert not Station.objects.exists()


def test_an_xlsx_workbook_with_typed_cells_imports_like_the_csv(integration):
    for table, model in TABLE_ADMINS:
        answer = import_table(integration, model, as_xlsx(table), f"{table}.xlsx")
        assert answer.status_code == 302, table

    assert RouteVersion.objects.get(code="ROUTE-SMT-EX").version_no == 1
    assert Unit.objects.filter(run__run_no="RUN-EX-001").count() == 200
    assert Station.objects.filter(tracked_by_machine=False).count() == 5


def test_a_route_version_in_use_cannot_be_changed_by_the_import(integration):
    import_example_tables(integration)

    def drop_specs(rows):
        rows[0]["specs"] = "Squeegee Pressure"
        return rows

    answer = preview(integration, "routestep", edited("route_steps", drop_specs), "route_steps.csv")

    assert refusals(answer) and "ROUTE_VERSION_IN_USE" in refusals(answer)[0]
    step = RouteStep.objects.get(route_version__code="ROUTE-SMT-EX", step_no=10)
    assert step.data_specs.count() == 2


def test_serials_alone_join_their_run_and_keep_its_fields(integration):
    import_example_tables(integration)
    content = b"runNo,sn\nRUN-EX-001,SN-EX-EXTRA-1\nRUN-EX-001,SN-EX-EXTRA-2\n"

    answer = import_table(integration, "unit", content, "more-serials.csv")

    assert answer.status_code == 302
    run = Run.objects.get(run_no="RUN-EX-001")
    assert run.units.count() == 202
    assert run.status == Run.Status.AUTHORIZED and run.wo_no == "WO-EX-1"


def test_a_serial_with_tracks_in_another_run_is_refused_by_row(integration):
    import_example_tables(integration)
    TrackFactory(unit__sn="SN-ELSEWHERE", unit__run__run_no="RUN-OTHER")
    content = b"runNo,sn\nRUN-EX-001,SN-EX-NEW\nRUN-EX-001,SN-ELSEWHERE\n"

    answer = preview(integration, "unit", content, "serials.csv")

    assert refusals(answer)[0].startswith("row 3, sn: unit SN-ELSEWHERE has tracks")
    assert "UNIT_HAS_TRACKS" in refusals(answer)[0]
    assert not Unit.objects.filter(sn="SN-EX-NEW").exists()


def test_a_change_between_preview_and_confirmation_is_refused_and_nothing_written(integration):
    import_example_tables(integration)
    content = b"runNo,sn\nRUN-EX-001,SN-EX-LATE\nRUN-EX-001,SN-MOVED\n"
    Unit.objects.create(sn="SN-MOVED")  # no run yet: the preview may take it
    previewed = preview(integration, "unit", content, "serials.csv")
    assert previewed.context["confirm_form"] is not None
    other_run = TrackFactory(unit__sn="SN-OTHER", unit__run__run_no="RUN-X").unit.run
    Unit.objects.filter(sn="SN-MOVED").update(run=other_run)  # tracked in RUN-X meanwhile
    TrackFactory(unit=Unit.objects.get(sn="SN-MOVED"))

    answer = confirm(integration, "unit", previewed)

    assert answer.status_code == 302
    assert any("UNIT_HAS_TRACKS" in text for text in messages_of(answer))
    assert not Unit.objects.filter(sn="SN-EX-LATE").exists()


def test_confirming_twice_writes_once_and_says_why_not_again(integration):
    previewed = preview(integration, "station", example("stations"), "stations.csv")
    confirm(integration, "station", previewed)

    again = confirm(integration, "station", previewed)

    assert again.status_code == 302
    assert "already confirmed" in messages_of(again)[-1]
    assert Station.objects.count() == 5


@pytest.mark.parametrize(("table", "model"), TABLE_ADMINS)
def test_an_export_imports_back_unchanged(integration, table, model):
    import_example_tables(integration)

    exported = integration.post(reverse(f"admin:execution_{model}_export"), {"format": 0})

    assert exported.status_code == 200
    content = exported.content
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows, table
    answer = preview(integration, model, content, f"{table}.csv")
    kinds = {row.import_type for row in answer.context["result"].rows}
    assert kinds == {"skip"}, refusals(answer)


def test_the_exported_specs_carry_their_limits_as_json(integration):
    import_example_tables(integration)

    exported = integration.post(reverse("admin:execution_dataspec_export"), {"format": 0})

    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    height = next(row for row in rows if row["name"] == "Paste Height")
    assert height["spec"].startswith("{") and '"target": 130' in height["spec"]
    assert height["operationCode"] == "EX-OP-SPI"


def test_quality_staff_may_export_but_not_import(client):
    client.force_login(person_in_role("quality staff"))

    assert client.get(reverse("admin:execution_station_import")).status_code == 403
    assert client.get(reverse("admin:execution_station_export")).status_code == 200


def test_the_example_json_and_the_admin_tables_describe_the_same_line(integration):
    from django.core.management import call_command

    import_example_tables(integration)
    out = io.StringIO()
    call_command("import_master_data", str(JSON_BUNDLE), stdout=out)

    assert "Nothing changed" in out.getvalue()


def test_a_run_of_a_thousand_serials_imports_through_the_admin(integration):
    import_example_tables(integration)
    rows = "".join(f"RUN-EX-001,SN-EX-K{index:04d}\n" for index in range(1000))
    content = f"runNo,sn\n{rows}".encode()

    started = time.perf_counter()
    answer = import_table(integration, "unit", content, "serials.csv")
    seconds = time.perf_counter() - started

    print(f"\n1,000 serials through the admin (preview and confirmation): {seconds:.2f} s")
    assert answer.status_code == 302
    assert Unit.objects.filter(run__run_no="RUN-EX-001").count() == 1200


@pytest.mark.parametrize(("table", "model"), TABLE_ADMINS)
def test_each_master_data_list_offers_import_and_export(integration, table, model):
    page = integration.get(reverse(f"admin:execution_{model}_changelist"))

    assert page.status_code == 200
    assert reverse(f"admin:execution_{model}_import").encode() in page.content
    assert reverse(f"admin:execution_{model}_export").encode() in page.content


# --- what a review found: each failed before its fix ---------------------------------------


def workbook(*sheets, active=0, merge=None) -> bytes:
    """An XLSX file of `sheets` (lists of rows), the `active` one selected."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for index, rows in enumerate(sheets):
        sheet = book.create_sheet(f"sheet{index}")
        for row in rows:
            sheet.append(row)
    if merge:
        book.worksheets[0].merge_cells(merge)
    book.active = active
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


STATION_HEADER = ["code", "name", "stationType", "lineCode"]


def test_a_misspelt_column_is_refused_not_silently_blanked(integration):
    import_example_tables(integration)
    content = b"code,name,stationType,LineCode\nEX-PRINTER-01,Stencil printer,AUTO,SMT-EX\n"

    answer = preview(integration, "station", content, "stations.csv")

    assert "unknown column(s) LineCode" in refusals(answer)[0]
    assert Station.objects.get(code="EX-PRINTER-01").line_code == "SMT-EX"


def test_a_column_given_twice_is_refused(integration):
    content = b"code,name,stationType,name\nP1,First,AUTO,Other\n"

    answer = preview(integration, "station", content, "stations.csv")

    assert "column(s) name given twice" in refusals(answer)[0]


def test_the_preview_shows_each_value_under_its_own_column_whatever_the_files_order(
    integration,
):
    content = b"name,stationType,code\nStencil printer,AUTO,P1\n"

    answer = preview(integration, "station", content, "stations.csv")

    row = answer.context["result"].rows[0]
    assert dict(zip(answer.context["result"].diff_headers, row.diff, strict=True))["code"] == "P1"


def test_a_blank_line_keeps_the_files_row_numbers(integration):
    content = b"code,name,stationType\nP1,One,AUTO\n\nP2,Two,AUTO\nP3,Three,BOGUS\n"

    answer = preview(integration, "station", content, "stations.csv")

    assert refusals(answer)[0].startswith("row 5, stationType: 'BOGUS' is not one of")


def test_the_same_station_twice_is_refused_naming_both_rows(integration):
    content = b"code,name,stationType\nP1,First,AUTO\nP1,Second,MANUAL\n"

    answer = preview(integration, "station", content, "stations.csv")

    assert refusals(answer)[0].startswith("row 3, __all__: stations P1 is also in row 2")
    assert not Station.objects.exists()


@pytest.mark.parametrize(
    "cell",
    ['"' + "[" * 5000 + '"', '"{""unit"": ""\\u0000""}"', '"' + "[" * 100 + "]" * 100 + '"'],
    ids=["nested-5000", "nul", "nested-100"],
)
def test_json_cells_the_database_cannot_keep_are_refused_by_row(integration, cell):
    import_example_tables(integration)
    content = f"operationCode,name,dataType,triggerRule\nEX-OP-PRINT,Odd,JSON,{cell}\n".encode()

    answer = preview(integration, "dataspec", content, "specs.csv")

    assert answer.status_code == 200
    assert refusals(answer)[0].startswith("row 2, triggerRule:")
    assert not DataSpec.objects.filter(name="Odd").exists()


def test_a_run_sent_again_without_a_status_keeps_its_status(integration):
    import_example_tables(integration)
    content = b"runNo,routeCode,routeVersion,woNo\nRUN-EX-001,ROUTE-SMT-EX,1,WO-EX-1\n"

    import_table(integration, "run", content, "runs.csv")

    assert Run.objects.get(run_no="RUN-EX-001").status == Run.Status.AUTHORIZED


def test_serials_read_before_an_authorize_do_not_undo_it(integration):
    from execution.master_data import import_bundle
    from execution.master_data.tables import bundle_from_tables, read_rows
    from execution.run_authorization import authorize_run

    import_example_tables(integration)
    Run.objects.filter(run_no="RUN-EX-001").update(status=Run.Status.PREP)
    rows = read_rows("serials", "serials.csv", ["runNo", "sn"], [["RUN-EX-001", "SN-LATE"]])
    bundle = bundle_from_tables({"serials": rows}).bundle
    authorize_run("RUN-EX-001", by=person_in_role("quality staff"))

    import_bundle(bundle)

    assert Run.objects.get(run_no="RUN-EX-001").status == Run.Status.AUTHORIZED
    assert Unit.objects.filter(sn="SN-LATE", run__run_no="RUN-EX-001").exists()


def test_an_authorized_run_needs_a_route_version_with_steps(integration):
    import_example_tables(integration)
    RouteVersion.objects.create(code="EMPTY", version_no=1)
    content = b"runNo,routeCode,routeVersion,status\nRUN-E,EMPTY,1,AUTHORIZED\n"

    answer = preview(integration, "run", content, "runs.csv")

    assert "ROUTE_VERSION_NOT_READY" in refusals(answer)[0]
    assert not Run.objects.filter(run_no="RUN-E").exists()


def test_a_started_runs_export_imports_back_unchanged(integration):
    import_example_tables(integration)
    Run.objects.filter(run_no="RUN-EX-001").update(status=Run.Status.IN_PROGRESS)

    exported = integration.post(reverse("admin:execution_run_export"), {"format": 0})
    answer = preview(integration, "run", exported.content, "runs.csv")

    assert {row.import_type for row in answer.context["result"].rows} == {"skip"}


def test_a_filtered_route_steps_export_writes_every_step_of_its_versions(integration):
    import_example_tables(integration)

    exported = integration.post(
        reverse("admin:execution_routestep_export") + "?step_no__gte=30", {"format": 0}
    )

    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [row["stepNo"] for row in rows] == ["10", "20", "30", "40", "50"]


def test_steps_an_upload_leaves_out_are_previewed_as_deleted(integration):
    import_example_tables(integration)
    Unit.objects.all().delete()
    Run.objects.all().delete()  # the version is no longer in use: its steps may change

    def first_three(rows):
        return rows[:3]

    answer = preview(integration, "routestep", edited("route_steps", first_three), "rs.csv")

    kinds = [row.import_type for row in answer.context["result"].rows]
    assert kinds.count("delete") == 2
    assert answer.context["result"].rows[-1].diff[2] == 50


def test_adding_one_serial_to_a_run_counts_one_new_and_the_rest_unchanged(integration):
    import_example_tables(integration)
    content = example("serials") + b"RUN-EX-001,SN-EX-9999\n"

    answer = import_table(integration, "unit", content, "serials.csv")

    assert (
        "Import finished: 1 new, 0 updated, 0 deleted and 200 skipped" in (messages_of(answer)[0])
    )


def test_a_refused_uploads_temporary_file_is_not_kept(integration, tmp_path, monkeypatch):
    # The uploads' folder of this test alone (other processes share the system's).
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    preview(integration, "station", b"code,name,stationType\nP1,One,BOGUS\n", "s.csv")
    refused_left = list(tmp_path.iterdir())
    preview(integration, "station", b"code,name,stationType\nP1,One,AUTO\n", "s.csv")

    assert refused_left == []
    assert len(list(tmp_path.iterdir())) == 1  # a clean preview waits for its confirmation


def test_a_workbook_is_read_from_its_first_sheet_not_the_one_left_selected(integration):
    first = [STATION_HEADER, ["P1", "New name", "AUTO", "L1"]]
    stale = [STATION_HEADER, ["P1", "OLD name", "MANUAL", "L1"]]

    import_table(integration, "station", workbook(first, stale, active=1), "stations.xlsx")

    assert Station.objects.get(code="P1").name == "New name"


def test_merged_cells_are_refused_with_their_range(integration):
    rows = [STATION_HEADER, ["P1", "One", "AUTO", "L1"], ["P2", "Two", "AUTO", ""]]

    answer = preview(integration, "station", workbook(rows, merge="D2:D3"), "stations.xlsx")

    assert "merged cells (D2:D3)" in str(answer.context["form"].errors)
    assert not Station.objects.exists()


def test_a_serial_typed_as_a_long_number_is_refused(integration):
    import_example_tables(integration)
    rows = [["runNo", "sn"], ["RUN-EX-001", 12345678901234567890]]

    answer = preview(integration, "unit", workbook(rows), "serials.xlsx")

    assert refusals(answer)[0].startswith("row 2, sn: the number")


def test_a_name_that_looks_like_a_formula_is_exported_as_text_and_imports_back(integration):
    Station.objects.create(code="P1", name="=HYPERLINK(1)", station_type="AUTO")
    Station.objects.create(code="P2", name="Bell\x07", station_type="AUTO")

    xlsx = integration.post(reverse("admin:execution_station_export"), {"format": 1})
    csv_file = integration.post(reverse("admin:execution_station_export"), {"format": 0})

    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    assert sheet["B2"].value == "=HYPERLINK(1)" and sheet["B2"].data_type == "s"
    assert "'=HYPERLINK(1)" in csv_file.content.decode("utf-8-sig")
    answer = preview(integration, "station", csv_file.content, "stations.csv")
    assert answer.context["result"].rows[0].import_type == "skip"
