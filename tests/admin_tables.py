"""The back office's import of a master-data table as a person does it: upload the file
on the list's Import page, read the preview, confirm (execution/admin/master_data_tables.py)."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.master_data_bundle import CSV_FOLDER

# The order a plant imports the example tables in: each table's parents first.
TABLE_ADMINS = [
    ("stations", "station"),
    ("operations", "operation"),
    ("specs", "dataspec"),
    ("route_steps", "routestep"),
    ("runs", "run"),
    ("serials", "unit"),
]
FORMATS = {"csv": 0, "xlsx": 1}  # the admin's format choices, in MasterDataTables.formats


def preview(client, model: str, content: bytes, name: str):
    """The Import page's answer to an upload: the preview, or the refusals."""
    upload = SimpleUploadedFile(name, content)
    file_format = FORMATS[name.rsplit(".", 1)[-1]]
    return client.post(
        reverse(f"admin:execution_{model}_import"),
        {"import_file": upload, "format": file_format},
    )


def confirm(client, model: str, previewed):
    """Confirm the previewed import, as the page's button does."""
    form = previewed.context["confirm_form"]
    data = {name: form.initial.get(name, "") for name in form.fields}
    return client.post(reverse(f"admin:execution_{model}_process_import"), data)


def import_table(client, model: str, content: bytes, name: str):
    """Upload, preview and confirm; the confirmation's answer."""
    previewed = preview(client, model, content, name)
    assert previewed.status_code == 200
    assert previewed.context["confirm_form"] is not None, refusals(previewed)
    return confirm(client, model, previewed)


def import_example_tables(client, folder=CSV_FOLDER) -> None:
    """Every example CSV table imported in order, as docs/master-data.md tells."""
    for table, model in TABLE_ADMINS:
        answer = import_table(client, model, (folder / f"{table}.csv").read_bytes(), f"{table}.csv")
        assert answer.status_code == 302, answer.content[:500]


def refusals(answer) -> list[str]:
    """The preview's refused rows as 'row N, column: reason'."""
    result = answer.context.get("result")
    if result is None:
        return [str(answer.context["form"].errors)]
    found = []
    for row in result.invalid_rows:
        for column, reasons in row.error_dict.items():
            found.append(f"row {row.number}, {column}: {' '.join(reasons)}")
    return found
