"""The product team's group and exactly the permissions it holds."""

PRODUCT_TEAM_GROUP = "Product team"

_CONTENT_MODELS = (
    "companyprofile",
    "faq",
    "policy",
    "constraint",
    "prompttemplate",
    "faqtranslation",
    "profiletranslation",
    # Live settings, not part of a release: the team's hours, holidays and closed days, and the monthly budget.
    "businesshours",
    "openingperiod",
    "closedday",
    "spendingbudget",
)

# As "app_label.codename". Edit drafts (no delete: switch an item off instead), publish, roll back, read
# releases and violations; map WhatsApp's message templates to their use outside the 24-hour window.
PRODUCT_TEAM_PERMISSIONS: tuple[str, ...] = (
    *(f"institutional.{action}_{model}" for model in _CONTENT_MODELS for action in ("add", "change", "view")),
    "institutional.view_release",
    "institutional.publish_release",
    "institutional.rollback_release",
    "institutional.view_releaseactivation",
    "institutional.view_guardviolation",
    *(f"conversations.{action}_messagetemplate" for action in ("add", "change", "view")),
)

PUBLISH_PERMISSION = "institutional.publish_release"
ROLLBACK_PERMISSION = "institutional.rollback_release"
VIEW_RELEASE_PERMISSION = "institutional.view_release"
