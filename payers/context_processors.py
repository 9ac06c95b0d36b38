def portal(request):
    """`elderly_mode` for every template: large text, high contrast and fewer steps when on."""
    return {"elderly_mode": request.COOKIES.get("elderly_mode") == "1"}
