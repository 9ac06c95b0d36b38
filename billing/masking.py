"""Showing who owes without telling who owes: names are stored whole and shown masked."""


def mask_holder_name(name: str) -> str:
    """张三 → 张*, 张小明 → 张*明, 欧阳娜娜 → 欧**娜, John Smith → J********h.

    The first and last characters survive (enough for the payer to recognise the account); everything
    between becomes one asterisk each, so the length is kept but nothing else.
    """
    name = name.strip()
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
