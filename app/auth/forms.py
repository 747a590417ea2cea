"""Account forms (Flask-WTF: every POST carries a CSRF token)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from app.access import ROLES
from app.org import departments
from app.web import ROLE_LABELS


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])
    confirm = PasswordField(_l("New password again"), validators=[DataRequired()])


class UserEditForm(FlaskForm):
    department = SelectField(_l("Department"), validate_choice=False)
    positions = SelectMultipleField(_l("Positions"), validate_choice=False)
    role = SelectField(_l("Role"), choices=[SelectChoice(r, ROLE_LABELS[r]) for r in ROLES])
    active = BooleanField(_l("Active"))

    def fill_choices(self, locale: str):
        depts = departments()
        self.department.choices = [SelectChoice("", "—")] + [SelectChoice(d.name, d.label(locale)) for d in depts]
        self.positions.choices = [SelectChoice(p.name, p.name, optgroup=d.label(locale)) for d in depts for p in d.positions]
        return self


class UserCreateForm(UserEditForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    display_name = StringField(_l("Display name"), validators=[DataRequired(), Length(max=128)])
    email = EmailField(_l("Email"), validators=[Optional(), Length(max=254)])
    start_date = DateField(_l("Start date"), validators=[Optional()])
    password = PasswordField(_l("Initial password"), validators=[DataRequired(), Length(min=8, max=256)])
