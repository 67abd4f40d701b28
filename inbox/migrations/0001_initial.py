"""The inbox permission, and the staff group that works the inbox ("Atendimento")."""

from django.contrib.auth.management import create_permissions
from django.db import migrations, models

GROUP = "Atendimento"
# app label -> codenames the group holds: open the inbox, see conversations, take/reply/resolve/return.
PERMISSIONS = {
    "inbox": ["use_inbox"],
    "conversations": ["view_conversation", "handle_conversation", "view_contact", "view_message"],
}


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the group needs them now.
    alias = schema_editor.connection.alias
    for label in PERMISSIONS:
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(alias).get_or_create(name=GROUP)
    for label, codenames in PERMISSIONS.items():
        group.permissions.add(
            *Permission.objects.using(alias).filter(content_type__app_label=label, codename__in=codenames)
        )


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name=GROUP).delete()


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("conversations", "0004_dead_letter_replay_permission"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="InboxAccess",
            fields=[("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))],
            options={
                "verbose_name": "inbox access",
                "verbose_name_plural": "inbox access",
                "permissions": [("use_inbox", "Can work the staff inbox")],
                "managed": False,
                "default_permissions": (),
            },
        ),
        migrations.RunPython(create_group, delete_group),
    ]
