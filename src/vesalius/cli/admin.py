"""Commands that set a home up and manage who may do what."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from vesalius.archive import accounts, projects
from vesalius.cli.context import failures, operator, print_json, state
from vesalius.core.errors import InvalidInput
from vesalius.core.home import write_secret
from vesalius.core.model import User
from vesalius.core.sealing import MasterKey
from vesalius.deid.intake import configure_project, load_profile_file

out = Console()
project_app = typer.Typer(help="Create and list projects.", no_args_is_help=True)
user_app = typer.Typer(help="Create and list user accounts.", no_args_is_help=True)
token_app = typer.Typer(help="Issue API tokens.", no_args_is_help=True)
config_app = typer.Typer(help="Show the settings in force.", no_args_is_help=True)


def init(ctx: typer.Context) -> None:
    """Create the home (database, storage, secrets) and an `admin` account."""
    st = state(ctx)
    with failures():
        home = st.home(create=True)
        with home.db.write() as session, session.begin():
            admin = session.scalar(select(User).where(User.name == "admin"))
            created = admin is None
            if created:
                password = secrets.token_urlsafe(12)
                accounts.create_user(
                    session, name="admin", admin=True, password=password, actor=operator()
                )
                write_secret(home.settings.secrets_dir / "admin-password", password)
    password_file = home.settings.secrets_dir / "admin-password"
    out.print(f"vesalius home: {home.settings.home}")
    if created:
        out.print(
            f"created user [bold]admin[/bold]; its password is in {password_file} (mode 0600)"
        )
    else:
        out.print("the home exists already; its database is up to date")
    out.print("get an API token with:  vesalius token create admin")


@project_app.command("create")
def project_create(
    ctx: typer.Context,
    key: str,
    name: str = typer.Option(None, help="Display name (default: the key)."),
    ae_title: str = typer.Option(
        None, "--ae-title", help="DICOM AE title (default: KEY upper-cased)."
    ),
    public: bool = typer.Option(False, help="Readable by every signed-in user."),
    stable_seconds: int = typer.Option(None, help="Quiet seconds before a series is stable."),
    accept_unknown_ae: bool = typer.Option(
        False,
        "--accept-unknown-ae",
        help="Let any calling AE title store, query and retrieve (default: registered only).",
    ),
    recheck_deid: bool = typer.Option(
        False,
        "--recheck-deid",
        help="Check every received object for residual identifiers (header check) and "
        "quarantine what fails: for a central archive fed by site gateways.",
    ),
    deid: bool = typer.Option(
        False,
        "--deid",
        help="De-identify every object at intake (import, C-STORE, STOW-RS) before storing it.",
    ),
    profile_file: Path = typer.Option(
        None, "--profile", help="De-identification profile TOML for --deid (options, overrides)."
    ),
    subject_id_template: str = typer.Option(
        None,
        "--subject-id-template",
        help="Research subject IDs for --deid, from {project} and {seq} "
        "(default '{project}-{seq:04d}').",
    ),
) -> None:
    """Create a project."""
    with failures():
        if (profile_file is not None or subject_id_template is not None) and not deid:
            raise InvalidInput("--profile and --subject-id-template go with --deid")
        profile, template = None, subject_id_template
        if profile_file is not None:
            profile, file_template = load_profile_file(profile_file)
            template = template or file_template
        home = state(ctx).home()
        with home.db.write() as session, session.begin():
            project = projects.create_project(
                session,
                key=key,
                name=name,
                actor=operator(),
                ae_title=ae_title,
                visibility="public" if public else "private",
                stable_seconds=stable_seconds,
                accept_unknown_ae=accept_unknown_ae,
                recheck_deid=recheck_deid,
            )
            if recheck_deid:
                # what it refuses is suspected identified and quarantined sealed; with the
                # key in place now, the spool seals what arrives from the first object on
                MasterKey(home.settings).require()
            if deid:
                configure_project(
                    session,
                    project=project,
                    settings=home.settings,
                    actor=operator(),
                    profile=profile,
                    template=template,
                )
            out.print(
                f"created project {project.key} (AE title {project.ae_title})"
                + (", de-identified at intake" if deid else "")
            )


@project_app.command("list")
def project_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List projects."""
    with failures():
        home = state(ctx).home()
        with home.db.read() as session:
            views = projects.list_projects(session, user=None)
    if as_json:
        print_json([v.to_dict() for v in views])
        return
    table = Table("key", "name", "AE title", "visibility", "studies")
    for v in views:
        table.add_row(v.key, v.name, v.ae_title or "", v.visibility, str(v.study_count))
    out.print(table)


@user_app.command("create")
def user_create(
    ctx: typer.Context,
    name: str,
    admin: bool = typer.Option(False, "--admin", help="Site-wide administrator."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read a password for web sign-in from stdin."
    ),
) -> None:
    """Create a user account (sign in to the web UI needs a password)."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    with failures():
        home = state(ctx).home()
        with home.db.write() as session, session.begin():
            accounts.create_user(
                session, name=name, admin=admin, password=password, actor=operator()
            )
    out.print(f"created user {name}" + (" (admin)" if admin else ""))


@user_app.command("password")
def user_password(ctx: typer.Context, name: str) -> None:
    """Set a user's password, read from stdin (or prompted for)."""
    if sys.stdin.isatty():
        password = typer.prompt("new password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    with failures():
        home = state(ctx).home()
        with home.db.write() as session, session.begin():
            accounts.set_password(session, name=name, password=password, actor=operator())
    out.print(f"password of {name} changed")


@user_app.command("list")
def user_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """List user accounts."""
    with failures():
        home = state(ctx).home()
        with home.db.read() as session:
            users = [
                {"name": u.name, "admin": u.is_admin, "active": u.is_active}
                for u in session.scalars(select(User).order_by(User.name))
            ]
    if as_json:
        print_json(users)
        return
    table = Table("name", "admin", "active")
    for u in users:
        table.add_row(u["name"], "yes" if u["admin"] else "", "yes" if u["active"] else "no")
    out.print(table)


@token_app.command("create")
def token_create(
    ctx: typer.Context, user: str, label: str = typer.Option("", help="What the token is for.")
) -> None:
    """Print a new bearer token for USER on stdout (and nothing else)."""
    with failures():
        home = state(ctx).home()
        with home.db.write() as session, session.begin():
            secret = accounts.create_token(session, name=user, actor=operator(), label=label)
    sys.stdout.write(secret + "\n")


def grant(
    ctx: typer.Context,
    user: str,
    project: str,
    role: str = typer.Argument(..., help="owner, curator, contributor, member or broker"),
    site: str = typer.Option(None, help="Limit the role to one site of the project."),
) -> None:
    """Give USER a ROLE in PROJECT."""
    with failures():
        home = state(ctx).home()
        with home.db.write() as session, session.begin():
            accounts.grant(
                session,
                user_name=user,
                project_key=project,
                role=role,
                site_key=site,
                actor=operator(),
            )
    out.print(f"{user} is {role} of {project}" + (f" at site {site}" if site else ""))


@config_app.command("show")
def config_show(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show the settings in force (passwords masked)."""
    with failures():
        view = state(ctx).settings.public_view()
    if as_json:
        print_json(view)
        return
    table = Table("setting", "value")
    for key, value in view.items():
        table.add_row(key, str(value))
    out.print(table)
