from django.core.management.base import BaseCommand

from webapp import services


class Command(BaseCommand):
    help = "Load the built-in hardware profiles and create the local admin account on first start."

    def handle(self, *args, **opts):
        n = services.hardware_profiles_sync_builtin()
        self.stdout.write(f"{n} built-in hardware profiles loaded")
        password = services.admin_ensure()
        if password:
            bar = "=" * 64
            self.stdout.write(f"\n{bar}\n Created the local admin account.\n   username: admin\n   password: {password}\n"
                              f" It is shown only this once: note it down (change it under /admin/).\n{bar}\n")
