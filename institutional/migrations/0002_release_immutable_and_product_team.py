"""Releases refuse updates in the database too, and the 'Product team' group exists everywhere."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Product team"
CONTENT_MODELS = ("companyprofile", "faq", "policy", "constraint", "prompttemplate")
PERMISSIONS = (
    *(f"{action}_{model}" for model in CONTENT_MODELS for action in ("add", "change", "view")),
    "view_release",
    "publish_release",
    "rollback_release",
    "view_releaseactivation",
    "view_guardviolation",
)

# Only the user link may change (SET_NULL when a user is removed); everything that went live is frozen.
POSTGRES_TRIGGER = """
CREATE OR REPLACE FUNCTION institutional_release_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'institutional release % is immutable', OLD.number
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER institutional_release_immutable
    BEFORE UPDATE OF number, snapshot, content_hash, note, created_at, created_by_name
    ON institutional_release FOR EACH ROW EXECUTE FUNCTION institutional_release_immutable();
"""
POSTGRES_DROP = """
DROP TRIGGER IF EXISTS institutional_release_immutable ON institutional_release;
DROP FUNCTION IF EXISTS institutional_release_immutable();
"""
SQLITE_TRIGGER = """
CREATE TRIGGER institutional_release_immutable
    BEFORE UPDATE OF number, snapshot, content_hash, note, created_at, created_by_name ON institutional_release
BEGIN
    SELECT RAISE(ABORT, 'institutional release is immutable');
END;
"""
SQLITE_DROP = "DROP TRIGGER IF EXISTS institutional_release_immutable;"


def add_trigger(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_TRIGGER, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_TRIGGER)


def drop_trigger(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DROP, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP)


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the group needs them now.
    app_config = apps.get_app_config("institutional")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(schema_editor.connection.alias).get_or_create(name=GROUP)
    permissions = Permission.objects.using(schema_editor.connection.alias).filter(
        content_type__app_label="institutional", codename__in=PERMISSIONS
    )
    group.permissions.set(permissions)


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("institutional", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(add_trigger, drop_trigger),
        migrations.RunPython(create_group, delete_group),
    ]
