# Writes OUTPUT: a C++ file defining fca::db::embedded_migrations() from the NNN_name.sql INPUTS.
# INPUTS is '|'-separated (see db/CMakeLists.txt).
string(REPLACE "|" ";" INPUTS "${INPUTS}")
set(body "#include \"fca/db/database.hpp\"\nnamespace fca::db {\nconst std::vector<Migration>& embedded_migrations() {\n  static const std::vector<Migration> all = {\n")
foreach(file IN LISTS INPUTS)
  get_filename_component(name ${file} NAME_WE)
  string(REGEX MATCH "^[0-9]+" number ${name})
  math(EXPR version "${number}")
  file(READ ${file} sql)
  string(APPEND body "    {${version}, \"${name}\", R\"fca_sql(${sql})fca_sql\"},\n")
endforeach()
string(APPEND body "  };\n  return all;\n}\n}  // namespace fca::db\n")
file(WRITE ${OUTPUT} "${body}")
