"""The monthly spending budget, and the 'Product team' group gains what it edits since 0002.

Business hours, holidays and closed days, the budget, and WhatsApp's message templates (their use
outside the 24-hour window) are the product team's to edit; migration 0002 knew none of them.
"""

from decimal import Decimal

import django.core.validators
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

GROUP = "Product team"
CONTENT_MODELS = (
    "companyprofile",
    "faq",
    "policy",
    "constraint",
    "prompttemplate",
    "faqtranslation",
    "profiletranslation",
    "businesshours",
    "openingperiod",
    "closedday",
    "spendingbudget",
)
PERMISSIONS = (
    *(("institutional", f"{action}_{model}") for model in CONTENT_MODELS for action in ("add", "change", "view")),
    ("institutional", "view_release"),
    ("institutional", "publish_release"),
    ("institutional", "rollback_release"),
    ("institutional", "view_releaseactivation"),
    ("institutional", "view_guardviolation"),
    *(("conversations", f"{action}_messagetemplate") for action in ("add", "change", "view")),
)


def sync_group(apps, schema_editor):
    # Permissions are normally created after all migrations ran; the group needs them now.
    alias = schema_editor.connection.alias
    for label in ("institutional", "conversations"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=alias)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(alias).get_or_create(name=GROUP)
    wanted = [
        Permission.objects.using(alias).get(content_type__app_label=app_label, codename=codename)
        for app_label, codename in PERMISSIONS
    ]
    group.permissions.set(wanted)


class Migration(migrations.Migration):

    dependencies = [
        ('institutional', '0009_labels_in_portuguese'),
        ('conversations', '0012_labels_in_portuguese'),
    ]

    operations = [
        migrations.CreateModel(
            name='SpendingBudget',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('monthly_limit_brl', models.DecimalField(decimal_places=2, default=0, help_text='WhatsApp e LLM somados, por mês do calendário. 0: sem orçamento (nenhum alerta).', max_digits=12, validators=[django.core.validators.MinValueValidator(0)], verbose_name='orçamento mensal (R$)')),
                ('usd_to_brl', models.DecimalField(decimal_places=4, default=Decimal('5.50'), help_text='Converte em reais o custo do LLM e das mensagens cobradas em dólar.', max_digits=8, validators=[django.core.validators.MinValueValidator(Decimal('0.0001'))], verbose_name='cotação do dólar (R$ por US$)')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='atualizado em')),
            ],
            options={
                'verbose_name': 'orçamento mensal',
                'verbose_name_plural': 'orçamento mensal',
                'constraints': [models.CheckConstraint(condition=models.Q(('id', 1)), name='spendingbudget_singleton')],
            },
        ),
        migrations.RunPython(sync_group, migrations.RunPython.noop),
    ]
