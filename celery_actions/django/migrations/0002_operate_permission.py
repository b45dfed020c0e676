from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("celery_actions", "0001_initial")]

    operations = [
        migrations.AlterModelOptions(
            name="actionrecord",
            options={
                "default_permissions": ("view",),
                "managed": False,
                "permissions": [
                    ("operate_actionrecord", "Can cancel and retry actions and change queues")
                ],
                "verbose_name": "action",
                "verbose_name_plural": "actions",
            },
        ),
    ]
