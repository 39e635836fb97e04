from django.http import Http404
from django.shortcuts import render

from .selectors import collection_progress_list, institution_list, institution_progress_list, programme_totals


def home(request):
    rows = institution_progress_list()
    return render(request, "institutions/public/home.html", {"rows": rows, "totals": programme_totals(rows)})


def institution_detail(request, code: str):
    institution = institution_list().filter(code=code.upper()).first()
    if institution is None:
        raise Http404("No such institution.")
    collections = collection_progress_list().filter(institution=institution)
    return render(request, "institutions/public/institution_detail.html",
                  {"institution": institution, "collections": collections})
