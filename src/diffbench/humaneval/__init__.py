"""Human evaluation: rating studies, their answer files and the scores fitted to them."""
