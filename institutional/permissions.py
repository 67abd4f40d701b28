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
    "businesshours",
    "openingperiod",
    "closedday",
)

# Edit drafts (no delete: switch an item off instead), publish, roll back, read releases and violations.
PRODUCT_TEAM_PERMISSIONS: tuple[str, ...] = (
    *(f"{action}_{model}" for model in _CONTENT_MODELS for action in ("add", "change", "view")),
    "view_release",
    "publish_release",
    "rollback_release",
    "view_releaseactivation",
    "view_guardviolation",
)

PUBLISH_PERMISSION = "institutional.publish_release"
ROLLBACK_PERMISSION = "institutional.rollback_release"
VIEW_RELEASE_PERMISSION = "institutional.view_release"
