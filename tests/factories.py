import datetime as dt

import factory

from accounts.models import Business, PartnerBank, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = "a-long-test-password"

    @classmethod
    def _create(cls, model_class, *args, password: str = "", **kwargs):
        return model_class.objects.create_user(*args, password=password, **kwargs)


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartnerBank
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"partner-{n}")
    name = factory.LazyAttribute(lambda o: f"Partner {o.slug}")
    currency = "CNY"


class BusinessFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Business

    partner = factory.SubFactory(PartnerFactory)
    external_id = factory.Sequence(lambda n: f"M{n:06d}")
    legal_name = factory.Sequence(lambda n: f"Business {n} Ltd")
    sector = "grocery"
    region = "east"
    onboarded_on = dt.date(2024, 1, 1)
